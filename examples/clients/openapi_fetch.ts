// The published flow through openapi-fetch, typed by openapi-typescript.
//
//     examples/clients/run.sh openapi-typescript
//
// Compiled next to the generated types (`./hoverbot.d.ts`). Needs HOVERBOT_URL, HOVERBOT_API_KEY and
// HOVERBOT_LIMITED_API_KEY (a key whose workspace allows only a few requests a minute).

import createClient from 'openapi-fetch';
import type { paths } from './hoverbot';

const QUESTION = 'Can I change my shipping address?';
const MISSING_CONVERSATION = 'conv_00000000000000000000000000';

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`openapi-typescript + openapi-fetch: ${message}`);
}

function client(apiKey: string) {
  return createClient<paths>({
    baseUrl: process.env.HOVERBOT_URL,
    headers: { Authorization: `Bearer ${apiKey}` },
  });
}

async function main(): Promise<void> {
  const api = client(process.env.HOVERBOT_API_KEY ?? '');
  const newConversation = async () => {
    const { data, error } = await api.POST('/v1/conversations', {
      body: { channel: 'web', externalUserId: 'visitor_123' },
    });
    check(data !== undefined, `creating a conversation failed: ${error?.code}`);
    return data;
  };

  // Create a conversation and ask the question; the answer comes back in the same response.
  const conversation = await newConversation();
  const sent = await api.POST('/v1/conversations/{conversationId}/messages', {
    params: { path: { conversationId: conversation.id } },
    body: { text: QUESTION },
  });
  check(sent.data !== undefined, `sending a message failed: ${sent.error?.code}`);
  check(sent.data.userMessage.text === QUESTION, 'the user message does not hold the question');
  console.log(`assistant: ${sent.data.assistantMessage?.text ?? '(no reply)'}`);

  // Read the transcript.
  const transcript = await api.GET('/v1/conversations/{conversationId}', {
    params: { path: { conversationId: conversation.id } },
  });
  check(transcript.data !== undefined, `reading the transcript failed: ${transcript.error?.code}`);
  check(transcript.data.messages[0]?.text === QUESTION, 'the transcript does not start with the question');

  // Hand the conversation over to a human.
  const escalation = await api.POST('/v1/escalations', {
    body: { conversationId: conversation.id, reasonCode: 'user_requested', destination: 'zendesk' },
  });
  check(escalation.data !== undefined, `escalating failed: ${escalation.error?.code}`);
  check(escalation.data.conversationId === conversation.id, 'the escalation names another conversation');

  // Page through this visitor's conversations, two at a time.
  const created = [conversation.id, (await newConversation()).id, (await newConversation()).id];
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await api.GET('/v1/conversations', {
      params: { query: { limit: 2, cursor, externalUserId: 'visitor_123' } },
    });
    check(page.data !== undefined, `listing conversations failed: ${page.error?.code}`);
    pages += 1;
    seen.push(...page.data.data.map((item) => item.id));
    if (!page.data.hasMore || !page.data.nextCursor) break;
    cursor = page.data.nextCursor;
  }
  check(created.every((id) => seen.includes(id)) && pages >= 2, `paging saw ${seen.length} conversations in ${pages} pages`);

  // A conversation that does not exist is a typed 404 with a problem body.
  const missing = await api.GET('/v1/conversations/{conversationId}', {
    params: { path: { conversationId: MISSING_CONVERSATION } },
  });
  check(missing.response.status === 404 && missing.error?.code === 'not_found', `unexpected ${missing.response.status}`);

  // Over the rate limit: a 429 with a problem body and a Retry-After to wait.
  const limited = client(process.env.HOVERBOT_LIMITED_API_KEY ?? '');
  let retryAfter: number | undefined;
  for (let attempt = 0; attempt < 20 && retryAfter === undefined; attempt += 1) {
    const { error, response } = await limited.GET('/v1/conversations', { params: { query: { limit: 1 } } });
    if (error === undefined) continue;
    check(response.status === 429 && error.code === 'rate_limited', `unexpected ${response.status}: ${error.code}`);
    retryAfter = Number(response.headers.get('Retry-After'));
  }
  check(retryAfter !== undefined && retryAfter >= 1, '20 requests never met the rate limit');

  console.log(
    `openapi-typescript + openapi-fetch: conversation ${conversation.id}, escalation ${escalation.data.id}, ` +
      `${seen.length} conversations in ${pages} pages, 404 not_found, 429 with Retry-After ${retryAfter} s`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
