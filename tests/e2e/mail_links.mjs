// The links of the account mails open the console's pages: a verification link confirms the
// address on opening, a reset link asks only for the new password; "Forgot your password?" on
// the sign-in form asks for another mail.
import { open, signIn, env, shot, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await page.goto(env.url + '/' + process.env.VERIFY_LINK);
  await page.getByRole('status').filter({ hasText: 'vi@example.test is confirmed for vi' }).waitFor();
  await shot(page, 'verify');

  await page.goto(env.url + '/' + process.env.RESET_LINK);
  await page.getByLabel('New password', { exact: true }).fill('mo-new-passphrase-22');
  await page.getByLabel('New password again').fill('mo-new-passphrase-22');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('status').filter({ hasText: 'password is changed' }).waitFor();
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await signIn(page, 'mo', 'mo-new-passphrase-22');
  await page.getByRole('button', { name: 'Sign out' }).click();

  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Username or e-mail').fill('mo@example.test');
  await page.getByRole('button', { name: 'Send me a link' }).click();
  await page.getByRole('status').filter({ hasText: 'a link is on its way' }).waitFor();
  await finish();
});
