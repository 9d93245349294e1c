// What every console scenario shares: chromium through playwright-core (web/vendor/node_modules),
// the daemon's URL and credentials from the environment the pytest harness sets, a sign-in, and a
// guard that fails the scenario on any console error or uncaught exception in the page.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/vendor/node_modules/'));
const { chromium } = require('playwright-core');

export const env = {
  url: process.env.GANGLION_URL,
  user: process.env.GANGLION_USER || 'admin',
  password: process.env.GANGLION_PASSWORD,
  shots: process.env.GANGLION_SHOTS || '',
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

// A browser, a page with the console's error guard, and a finish() that fails on errors seen.
// `allow` lists the errors a scenario causes on purpose (the browser logs a refused fetch).
let lastPage = null;
const recent = []; // the page's last console lines and failed requests, printed on a failure

export async function open({ width = 1280, height = 860, allow = [] } = {}) {
  const browser = await chromium.launch({ executablePath: env.chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('console', m => {
    if (m.type() === 'error' && !allow.some(re => re.test(m.text()))) errors.push('console: ' + m.text());
  });
  page.on('pageerror', e => errors.push('pageerror: ' + e.message));
  page.on('console', m => recent.push(`console.${m.type()}: ${m.text()}`));
  page.on('response', r => { if (r.status() >= 400) recent.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  page.on('requestfailed', r => recent.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  lastPage = page;
  const finish = async () => {
    await browser.close();
    if (errors.length) throw new Error('errors in the page:\n' + errors.join('\n'));
  };
  return { browser, context, page, errors, finish };
}

export async function signIn(page, user = env.user, password = env.password) {
  await page.goto(env.url + '/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function shot(page, name) {
  if (env.shots) await page.screenshot({ path: path.join(env.shots, name + '.png') });
}

// Runs a scenario as the script's body: a failure prints and exits 1 (pytest reads the code).
// On a failure it also prints what the page showed and its last console lines and failed
// requests, and saves failure.png beside the screenshots.
export function scenario(fn) {
  fn().then(() => process.exit(0), async e => {
    console.error(e && e.stack || e);
    if (lastPage) {
      try {
        console.error('--- the page showed:\n' + (await lastPage.innerText('body', { timeout: 2000 })).slice(0, 2000));
        await shot(lastPage, 'failure');
      } catch (_) { /* the page is gone */ }
      console.error('--- recent:\n' + recent.slice(-30).join('\n'));
    }
    process.exit(1);
  });
}
