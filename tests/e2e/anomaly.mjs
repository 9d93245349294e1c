// An anomaly appears in the live feed after `ganglion synth` sends an incident; open it,
// acknowledge it; the stream's charts draw.
import { spawnSync } from 'node:child_process';
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/watch');
  await page.getByRole('link', { name: 'web' }).waitFor();
  await page.locator('[data-feed="live"]').waitFor(); // the feed's stream is connected
  check(await page.locator('.anomaly-row.vrow').count() === 0, 'no anomaly before the incident');
  const r = spawnSync(process.env.GANGLION_BIN, ['synth', '--url', env.url, '--stream', 'web', '--count', '300',
    '--warmup', '100', '--gap', '100', '--anomalies', 'stack_trace'], { env: process.env, encoding: 'utf8' });
  check(r.status === 0, 'synth posted: ' + r.stderr);
  const row = page.locator('.anomaly-row.vrow').first();
  await row.waitFor();
  await shot(page, 'watch');
  await row.click();
  await page.getByRole('heading', { name: 'Explanation' }).waitFor();
  check((await page.locator('.explain').innerText()).includes('NCD'), 'the explanation names the NCD');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.locator('h1 .status', { hasText: 'acknowledged' }).waitFor();
  await shot(page, 'anomaly');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export evidence' }).click()]);
  const fs = await import('node:fs/promises');
  const bundle = JSON.parse(await fs.readFile(await download.path(), 'utf8'));
  check(JSON.stringify(bundle).includes('"signature"'), 'the export is the signed evidence bundle');
  await page.locator('h1 a', { hasText: 'web' }).click();
  await page.locator('.chart canvas').first().waitFor();
  await shot(page, 'stream');
  await finish();
});
