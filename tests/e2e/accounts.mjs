// Account flows in the browser: a newcomer registers with an invitation code from the sign-in
// page's link and signs in as a viewer; reloading the page keeps the session (the refresh cookie),
// Sign out ends it for good; a password is reset with an admin-issued token from its link.
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await page.goto(env.url + '/');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill('newton');
  await page.getByLabel('Password').fill('newton-long-passphrase-1');
  await page.getByLabel('Invitation code').fill(process.env.INVITE_CODE);
  await shot(page, 'register');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('status').filter({ hasText: 'created' }).waitFor();
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await signIn(page, 'newton', 'newton-long-passphrase-1');
  check((await page.locator('.who .role').innerText()) === 'viewer', 'a new account is a viewer');
  check(!(await page.getByRole('link', { name: 'Admin' }).count()), 'a viewer is not offered Admin');

  // the access token lives in the page only; the refresh cookie is out of the scripts' reach
  const cookies = await page.context().cookies();
  const refresh = cookies.find(c => c.name === 'ganglion_refresh');
  check(refresh && refresh.httpOnly && refresh.sameSite === 'Strict', 'an HttpOnly SameSite=Strict refresh cookie');
  check(!(await page.evaluate(() => document.cookie)).includes('grt_'), 'scripts cannot read the refresh token');
  check(!(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage))).includes('ey'), 'no token in storage');

  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  check((await page.locator('.who').innerText()).includes('newton'), 'still newton after a reload');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').waitFor();
  await page.reload();
  await page.getByLabel('Username').waitFor();
  check(!(await page.getByRole('button', { name: 'Sign out' }).count()), 'signed out stays signed out after a reload');

  // the link an admin's reset token makes (auth.console_url + #/reset?token=…)
  await page.goto(env.url + '/#/reset?token=' + encodeURIComponent(process.env.RESET_TOKEN));
  await page.getByLabel('New password', { exact: true }).fill('rosa-new-passphrase-22');
  await page.getByLabel('New password again').fill('rosa-new-passphrase-22');
  await shot(page, 'reset');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('status').filter({ hasText: 'password is changed' }).waitFor();
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await signIn(page, 'rosa', 'rosa-new-passphrase-22');
  await finish();
});
