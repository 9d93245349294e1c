// Spawn an agent from the form, watch its log arrive live (with its ANSI colours), hide and show
// its stderr lines, stop it.
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/agents');
  await page.getByRole('button', { name: 'Spawn…' }).click();
  await page.getByLabel('Name').fill('ticker');
  await page.getByLabel('Command (sh -c)').fill(
    'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; printf "\\033[32mgreen %s\\033[0m\\n" $i; echo "oops $i" >&2; sleep 0.1; done');
  await page.getByLabel('Labels').fill('team=e2e');
  await page.getByRole('button', { name: 'Spawn', exact: true }).click();
  await page.locator('h1', { hasText: 'ticker' }).waitFor();
  const log = page.getByLabel('log');
  await log.getByText('tick 1', { exact: true }).waitFor();
  // lines keep arriving while the page is open: the log is live, not a snapshot
  const before = await log.locator('.log-line').count();
  await log.getByText(`tick ${Math.ceil(before / 2) + 10}`, { exact: true }).waitFor();
  check(await log.locator('.ansi-32').count() > 0, 'ANSI green is shown as a colour');
  check(!(await log.innerText()).includes('\u001b'), 'no raw escape sequences');
  await page.getByLabel('Search').fill('green 3');
  check(await log.locator('.log-line').first().innerText().then(t => t.includes('green 3')), 'search filters lines');
  await page.getByLabel('Search').fill('');
  // stderr lines are shown until the toggle hides them; stdout stays
  await log.getByText('oops 2', { exact: true }).waitFor();
  await page.getByLabel('stderr').uncheck();
  await log.getByText('oops 2', { exact: true }).waitFor({ state: 'detached' });
  check(!(await log.innerText()).includes('oops'), 'no stderr line while the toggle is off');
  check((await log.innerText()).includes('tick 2'), 'stdout lines stay');
  await page.getByLabel('stderr').check();
  await log.getByText('oops 2', { exact: true }).waitFor();
  await page.getByLabel('sequence').fill('3');
  await page.getByRole('button', { name: 'Jump' }).click();
  await log.locator('[data-seq="3"].hit').waitFor();
  await page.getByRole('button', { name: 'Follow', exact: true }).waitFor(); // jumping pauses following
  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await page.getByRole('button', { name: 'Pause following' }).waitFor();
  await shot(page, 'agent');
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.locator('h1 .status', { hasText: /terminated|completed|failed/ }).waitFor();
  check(await page.getByRole('button', { name: 'Stop' }).count() === 0, 'an ended agent offers no Stop');
  await page.goto(env.url + '/#/agents');
  await page.getByRole('row').filter({ hasText: 'ticker' }).first().waitFor();
  await finish();
});
