// Swagger UI in a real browser: open /docs on a live server, see every tag and the webhooks
// section, authorize with a bearer key, run "Try it out" on POST /v1/conversations and read the
// 201 in the page; then, on a fresh page, authorize through the OAuth flow (the public app
// SWAGGER_CLIENT_ID, registered with http://127.0.0.1/docs/oauth2-redirect.html: PKCE, sign-in and
// consent in the popup) and run GET /v1/conversations with the access token. Fails if the page
// loads anything from outside the server.
//
//   HOVERBOT_URL=http://127.0.0.1:PORT HOVERBOT_API_KEY=hb_live_... SWAGGER_CLIENT_ID=app_... \
//     SCREENSHOT=out.png node .ci/swagger_ui.mjs
//
// Needs playwright-core (npm) and Chromium (Debian's, at /usr/bin/chromium).
import { chromium } from 'playwright-core';

const base = process.env.HOVERBOT_URL;
const key = process.env.HOVERBOT_API_KEY;
const clientId = process.env.SWAGGER_CLIENT_ID;
const screenshot = process.env.SCREENSHOT ?? 'swagger-ui.png';
if (!base || !key || !clientId) {
  console.error('set HOVERBOT_URL, HOVERBOT_API_KEY and SWAGGER_CLIENT_ID');
  process.exit(2);
}
const TIMEOUT = 30_000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.setDefaultTimeout(TIMEOUT);
const foreign = [];
page.on('request', (request) => {
  const url = request.url();
  if (!url.startsWith(`${base}/`) && !url.startsWith('data:')) foreign.push(url);
});
// This server is the default: the served spec lists it first (as `/`, the address the page came
// from), so "Try it out" calls it without the user choosing it.
async function thisServerIsTheDefault() {
  const chosen = await page.inputValue('#servers');
  check(chosen === '/', `the default server is ${chosen}, not this one`);
}

try {
  await page.goto(`${base}/docs/`, { waitUntil: 'networkidle' });

  // Every tag of the spec, and every webhook, is on the page.
  const spec = await (await fetch(`${base}/openapi.json`)).json();
  await page.waitForSelector('.opblock-tag');
  const tags = await page.locator('h3.opblock-tag').evaluateAll(
    (headers) => headers.map((header) => header.getAttribute('data-tag')));
  for (const tag of spec.tags.map((tag) => tag.name)) {
    check(tags.includes(tag), `tag "${tag}" is not on the page (found: ${tags.join(', ')})`);
  }
  const webhooks = await page.locator('.webhooks .opblock-summary-path').allTextContents();
  for (const event of Object.keys(spec.webhooks)) {
    check(webhooks.includes(event), `webhook "${event}" is not on the page (found: ${webhooks.join(', ')})`);
  }

  await thisServerIsTheDefault();

  // Authorize with the key.
  await page.click('.scheme-container button.authorize');
  await page.fill('#auth-bearer-value', key);
  await page.click('.auth-container button[aria-label="Apply credentials"]');
  await page.click('.auth-container button.btn-done');

  // Try it out: create a conversation with the example body.
  const operation = page.locator('#operations-Conversations-createConversation');
  await operation.locator('.opblock-summary-control').click();
  await operation.locator('button.try-out__btn').click();
  await operation.locator('button.execute').click();
  const status = operation.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  const shown = (await status.textContent()).trim();
  check(shown.startsWith('201'), `the page shows status ${shown}, not 201`);
  const body = await operation.locator('.live-responses-table tbody .response-col_description pre').first().textContent();
  check(/"id":\s*"conv_/.test(body), `the page shows no new conversation: ${body.slice(0, 200)}`);

  await status.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });

  // A fresh page, authorized through the OAuth flow alone.
  const sent = [];
  page.on('request', (request) => {
    if (request.url().startsWith(`${base}/v1/`)) sent.push(request.headers().authorization ?? '');
  });
  await page.goto(`${base}/docs/`, { waitUntil: 'networkidle' });
  // The flow's URLs are relative to the server chosen.
  await thisServerIsTheDefault();
  await page.click('.scheme-container button.authorize');
  await page.fill('#client_id_authorizationCode', clientId);
  await page.click('label[for="conversations:read-authorizationCode-checkbox-oauth2"]');
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    page.click('button[aria-label="Apply given OAuth2 credentials"]'),
  ]);
  await popup.fill('#api_key', key);
  await popup.click('button.primary');
  await popup.waitForSelector('button[value=approve]');
  await Promise.all([popup.waitForEvent('close'), popup.click('button[value=approve]')]);
  await page.waitForSelector('.auth-container button[aria-label="Remove authorization"]');
  await page.click('.auth-container button.btn-done');

  const list = page.locator('#operations-Conversations-listConversations');
  await list.locator('.opblock-summary-control').click();
  await list.locator('button.try-out__btn').click();
  await list.locator('button.execute').click();
  const listed = list.locator('.live-responses-table tbody .response-col_status').first();
  await listed.waitFor();
  const listedStatus = (await listed.textContent()).trim();
  check(listedStatus.startsWith('200'), `with the OAuth token the page shows ${listedStatus}, not 200`);
  check(sent.some((header) => header.startsWith('Bearer hb_at_')),
    `Swagger UI did not send the access token (sent: ${sent.join(', ')})`);

  check(foreign.length === 0, `the page loaded from outside the server: ${foreign.join(', ')}`);
  console.log(`Swagger UI: ${tags.length} tags, ${webhooks.length} webhooks, POST /v1/conversations → 201 in the page, OAuth authorize (PKCE) → GET /v1/conversations 200; screenshot ${screenshot}`);
} catch (error) {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(`Swagger UI check failed: ${error.message} (screenshot ${screenshot})`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
