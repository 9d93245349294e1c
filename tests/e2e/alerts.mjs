// Alerts: a webhook notifier and an anomaly rule created from the page; `ganglion synth` sends an
// incident and its notification shows in the history; the receiver failed every attempt, so the
// notification is a dead letter, which Retry sends again until it is delivered.
import { spawnSync } from 'node:child_process';
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/alerts');
  await page.getByLabel('notifier name').fill('ops-hook');
  await page.getByLabel('URL').fill(process.env.RECEIVER_URL);
  await page.getByLabel('signing secret').fill('a-webhook-secret-of-some-length');
  await page.getByRole('button', { name: 'Create notifier' }).click();
  await page.locator('tr[data-notifier="ops-hook"]').waitFor();

  await page.getByLabel('rule name').fill('web incidents');
  await page.getByLabel('stream').fill('web');
  await page.getByLabel('minimum severity').selectOption('low');
  await page.getByLabel('ops-hook').check();
  await page.getByRole('button', { name: 'Create rule' }).click();
  const rule = page.locator('tr[data-rule="web incidents"]');
  await rule.waitFor();
  check((await rule.innerText()).includes('ops-hook'), 'the rule names its notifier');

  const r = spawnSync(process.env.GANGLION_BIN, ['synth', '--url', env.url, '--stream', 'web', '--count', '300',
    '--warmup', '100', '--gap', '100', '--anomalies', 'stack_trace'], { env: process.env, encoding: 'utf8' });
  check(r.status === 0, 'synth posted: ' + r.stderr);
  const row = page.locator('tr[data-notification]').filter({ hasText: 'web incidents' }).first();
  await row.waitFor({ timeout: 30000 });
  check((await row.innerText()).includes('anomaly on stream web'), 'the notification\'s title');
  await row.getByText('dead').waitFor({ timeout: 30000 });
  check((await row.innerText()).includes('503'), 'the last error is shown');
  await shot(page, 'alerts');
  await row.getByRole('button', { name: 'Retry' }).click();
  await row.getByText('delivered').waitFor({ timeout: 30000 });
  await finish();
});
