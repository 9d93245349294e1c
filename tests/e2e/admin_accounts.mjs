// Admin's account tools: an account registered from the sign-in page waits for approval and is
// approved on the Admin page, an
// invitation is created (its code shown once) and revoked, a team is created, given a member and
// deleted.
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await page.goto(env.url + '/');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill('pat');
  await page.getByLabel('Password').fill('pat-long-passphrase-3');
  check(!(await page.getByLabel('Invitation code').count()), 'no code is asked when an admin approves');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('status').filter({ hasText: 'awaiting approval' }).waitFor();
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await signIn(page);
  await page.goto(env.url + '/#/admin');
  const pat = page.locator('tr[data-user="pat"]');
  await pat.getByText('awaiting approval').waitFor();
  await pat.getByRole('button', { name: 'Approve' }).click();
  await pat.getByText('active').waitFor();

  await page.getByRole('button', { name: 'Create invitation' }).click();
  const code = await page.locator('[data-invite]').innerText();
  check(/^gin_/.test(code), 'the code is shown once: ' + code);
  const row = page.locator('tr[data-invite-id]');
  await row.first().waitFor();
  check((await row.count()) === 1, 'one open invitation');

  await page.getByLabel('team name').fill('night-shift');
  await page.getByRole('button', { name: 'Create team' }).click();
  const team = page.locator('tr[data-team="night-shift"]');
  await team.getByLabel('member of night-shift').fill('pat');
  await team.getByRole('button', { name: 'Add' }).click();
  await team.getByRole('button', { name: 'remove pat from night-shift' }).waitFor();
  await shot(page, 'admin-accounts');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.waitFor({ state: 'detached' });
  await team.getByRole('button', { name: 'Delete' }).click();
  await team.waitFor({ state: 'detached' });
  await finish();
});
