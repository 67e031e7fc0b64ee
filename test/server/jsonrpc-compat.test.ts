// Third-party JSON-RPC clients keep working (issue 12): a notification leaves a kept-alive
// connection usable, ids come back with their exact digits, a UTF-8 BOM before the body is fine.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const rpcText = (s: TestServer, body: string) => s.http('/rpc', { body });

test('after a notification, the same kept-alive connection serves the next request (as jsonrpclib-pelix expects)', async () => {
  const s = await startTestServer();
  // http.client on one connection, checking the status the way jsonrpclib-pelix's transport does
  // (anything but 200 is a ProtocolError there) and reading each answer in full before the next.
  const script = `
import http.client, json, sys
host, port = sys.argv[1].replace("http://", "").split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=10)
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[2]}
def post(body):
    conn.request("POST", "/rpc", body=json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit("ProtocolError: HTTP %d" % r.status)
    return data
assert post({"jsonrpc": "2.0", "method": "lease.grant", "params": {"agent": "notified"}}) == b""
sock = conn.sock
answer = json.loads(post({"jsonrpc": "2.0", "id": 7, "method": "lease.list"}))
assert conn.sock is sock, "the connection was not kept alive"
print(json.dumps(answer))
`;
  // Asynchronously: the server answers from this very process.
  const r = await promisify(execFile)('python3', ['-c', script, s.url, s.token], { encoding: 'utf8', timeout: 20_000 });
  const answer = JSON.parse(r.stdout);
  expect(answer).toMatchObject({ jsonrpc: '2.0', id: 7, result: { leases: [{ agent: 'notified' }] } });
});

test('ids keep their exact value: integers beyond 2^53 and decimals come back digit for digit', async () => {
  const s = await startTestServer();
  const big = '9007199254740993'; // JSON.parse reads 9007199254740992
  const single = await rpcText(s, `{"jsonrpc":"2.0","id":${big},"method":"server.status"}`);
  expect(single.status).toBe(200);
  expect(single.text).toMatch(new RegExp(`^\\{"jsonrpc":"2.0","id":${big},"result":`));

  // Two ids that are one double apart in digits but the same double, and a decimal with a trailing zero.
  const batch = await rpcText(
    s,
    `[{"jsonrpc":"2.0","id":9007199254740993,"method":"lease.list"},{"jsonrpc":"2.0","id":9007199254740992,"method":"lease.list"},` +
      `{"jsonrpc":"2.0","id":1.10,"method":"no.such"},{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"lease.grant","params":{"ttl_ms":1}}]`,
  );
  expect(batch.status).toBe(200);
  const ids = [...batch.text.matchAll(/"id":([^,}]+)/g)].map((m) => m[1]);
  expect(ids).toEqual(['9007199254740993', '9007199254740992', '1.10', '123456789012345678901234567890']);
  expect(batch.text).toContain('"code":-32601'); // errors carry the exact id too
  expect(batch.text).toContain('"code":-32602');
  expect(batch.text).not.toContain('decapod-id');

  // Ordinary ids are untouched, and a string that looks like a placeholder is just a string.
  const plain = await rpcText(s, '{"jsonrpc":"2.0","id":"\\u0000decapod-id:x:0","method":"lease.list"}');
  expect(JSON.parse(plain.text).id).toBe('\u0000decapod-id:x:0');
});

test('a UTF-8 byte order mark before the JSON body is tolerated on /rpc and /rpc/<method>', async () => {
  const s = await startTestServer();
  const rpc = await rpcText(s, '\uFEFF{"jsonrpc":"2.0","id":1,"method":"lease.grant","params":{"agent":"bom"}}');
  expect(rpc.json).toMatchObject({ id: 1, result: { agent: 'bom' } });
  const rest = await s.http('/rpc/lease.grant', { body: '\uFEFF{"agent":"bom2"}' });
  expect(rest.status).toBe(200);
  expect(rest.json).toMatchObject({ agent: 'bom2' });
  // Only a leading one: a BOM elsewhere is still not JSON.
  expect((await rpcText(s, '{"jsonrpc":"2.0","id":1,\uFEFF"method":"lease.list"}')).json.error.code).toBe(-32700);
});
