// The workspace admin's side of an OAuth install, in a real browser: open the authorization URL,
// sign in with the workspace's admin key, read the consent page (the app, each scope in words),
// approve, and land on the app's redirect URI. Fails if a page loads anything from elsewhere.
//
//   AUTHORIZE_URL=... REDIRECT_URI=http://127.0.0.1:PORT/callback HOVERBOT_API_KEY=hb_live_... \
//     SCREENSHOT=consent.png node .ci/oauth_consent.mjs
//
// Needs playwright-core (npm) and Chromium (Debian's, at /usr/bin/chromium).
import { chromium } from 'playwright-core';

const authorize = process.env.AUTHORIZE_URL;
const redirect = process.env.REDIRECT_URI;
const key = process.env.HOVERBOT_API_KEY;
const screenshot = process.env.SCREENSHOT ?? 'oauth-consent.png';
const origin = new URL(authorize).origin;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage();
page.setDefaultTimeout(30_000);
const foreign = [];
page.on('request', (request) => {
  const url = request.url();
  if (!url.startsWith(`${origin}/`) && !url.startsWith(redirect)) foreign.push(url);
});
try {
  await page.goto(authorize);
  await page.fill('#api_key', key);
  await Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.click('button.primary')]);

  const consent = await page.textContent('main');
  check(/Install .+ in .+\?/.test(consent), `not the consent page: ${consent}`);
  check(consent.includes('Create conversations and send user messages.'),
    'the consent page does not say what conversations:write allows');
  await page.screenshot({ path: screenshot, fullPage: true });

  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(redirect)),
    page.click('button[value=approve]'),
  ]);
  await page.waitForSelector('#installed');
  check(foreign.length === 0, `the pages loaded from elsewhere: ${foreign.join(', ')}`);
  console.log('consent: signed in, approved, back at the app');
} finally {
  await browser.close();
}
