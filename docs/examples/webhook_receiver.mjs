// A Sesame webhook receiver, verifying each delivery with the Standard Webhooks library.
//
// usage: SESAME_WEBHOOK_SECRET=whsec_... node webhook_receiver.mjs PORT [LOG]
//
//     npm install standardwebhooks
//
// Answers 204 to a delivery whose signature checks out (and handles it), 400 to anything else.
// Sesame delivers at least once: an event may come again after a retry, with the same
// `webhook-id`, so a real receiver remembers the ids it has handled and skips repeats. LOG, when
// given, is a file that gets one JSON line per request (for the tests that run this example).
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.env.SESAME_WEBHOOK_SECRET);
const [port, log] = process.argv.slice(2);
const seen = new Set(); // webhook-ids handled (keep them in your database, for a day or more)

function handle(event) {
  // Your code: event.type is e.g. "user.created", event.data.user_id the user.
  console.log(event.type, JSON.stringify(event.data));
}

function record(line) {
  if (log) appendFileSync(log, JSON.stringify(line) + '\n');
}

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    // The raw bytes, exactly as received: the signature covers them.
    const body = Buffer.concat(chunks);
    let event;
    try {
      event = webhook.verify(body, req.headers);
    } catch (e) {
      record({ verified: false, error: String(e) });
      res.writeHead(400).end();
      return;
    }
    const id = req.headers['webhook-id'];
    if (!seen.has(id)) {
      seen.add(id);
      handle(event);
    }
    record({ verified: true, id, event });
    // 2xx only once the event is handled: anything else and Sesame sends it again.
    res.writeHead(204).end();
  });
}).listen(Number(port), '127.0.0.1');
