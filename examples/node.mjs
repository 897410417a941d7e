// Ask HoverBot a question with Node.js (20+, no dependencies): create a conversation, send a
// message, print the transcript.
//
//   HOVERBOT_API_KEY=hb_live_... node examples/node.mjs
//
// HOVERBOT_URL defaults to http://127.0.0.1:8080 (a local `hoverbot serve`).

const baseUrl = process.env.HOVERBOT_URL ?? "http://127.0.0.1:8080";
const apiKey = process.env.HOVERBOT_API_KEY;
if (!apiKey) {
  console.error("Set HOVERBOT_API_KEY to an API key (hoverbot serve prints one on first start).");
  process.exit(2);
}

// Calls the API; on a non-2xx status prints the problem (application/problem+json) and exits.
async function api(method, path, body) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      ...(body && { "Content-Type": "application/json" }),
    },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  if (!response.ok) {
    console.error(`${method} ${path} failed with HTTP ${response.status}:\n${text}`);
    process.exit(1);
  }
  return JSON.parse(text);
}

// 1. Start a conversation for a visitor of the website.
const conversation = await api("POST", "/v1/conversations", {
  channel: "web",
  externalUserId: "visitor_123",
});
console.log(`conversation: ${conversation.id}`);

// 2. Send the visitor's question; the answer comes back in the same response.
await api("POST", `/v1/conversations/${conversation.id}/messages`, {
  text: "Can I change my shipping address?",
});

// 3. Fetch the transcript and print every message.
const transcript = await api("GET", `/v1/conversations/${conversation.id}`);
for (const message of transcript.messages) {
  console.log(`${message.role}: ${message.text}`);
}
