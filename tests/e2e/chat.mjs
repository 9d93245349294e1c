// A chat whose answer streams: the agent's reply grows piece by piece in the page before it ends.
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/chat/' + process.env.AGENT_ID);
  await page.locator('[data-ws="ready"]').waitFor();
  // every text the answer shows, as it changes
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const t = document.querySelector('.turn.agent');
      if (t && window.__seen[window.__seen.length - 1] !== t.textContent) window.__seen.push(t.textContent);
    }).observe(document.querySelector('.chat-log'), { subtree: true, childList: true, characterData: true });
  });
  await page.getByLabel('message').fill('hello there from the console');
  await page.keyboard.press('Enter');
  await page.locator('.turn.agent:not(.live)', { hasText: 'You said: hello there from the console' }).waitFor();
  const seen = await page.evaluate(() => window.__seen);
  check(seen.length >= 3, 'the answer arrived in pieces: ' + JSON.stringify(seen));
  check(seen[0].length < seen[seen.length - 1].length, 'it grew as it streamed');
  await shot(page, 'chat');
  await finish();
});
