// The API explorer at /api/docs: the credential bar loads /openapi.json into Swagger UI, which
// lists the registry's operations; the page keeps the strict CSP (no console errors, which a
// refused inline script or style would cause).
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  const token = process.env.GANGLION_TOKEN;
  check(token, 'the harness passes the daemon admin token');
  // the console links to it
  await signIn(page);
  const link = page.getByRole('link', { name: 'API ↗' });
  check(await link.getAttribute('href') === '/api/docs', 'the console links to the explorer');
  await page.goto(env.url + '/api/docs');
  await page.getByLabel('Access token or API key').fill(token);
  await page.getByRole('button', { name: 'Load the API' }).click();
  const op = page.locator('.opblock-summary-path[data-path="/api/v1/agents"]').first();
  await op.waitFor();
  const count = await page.locator('.opblock').count();
  check(count > 50, 'Swagger UI lists the operations: ' + count);
  // one operation opens with its parameters and responses
  await page.locator('.opblock-summary-path[data-path="/api/v1/system/log-levels"]').first().click();
  await page.locator('.opblock.is-open .responses-wrapper').first().waitFor();
  await shot(page, 'api-docs');
  await finish();
});
