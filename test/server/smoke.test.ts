import { expect, test } from 'vitest';
import { startTestServer } from '../helpers/test-server.js';

test('a test server answers server.status and grants a lease', async () => {
  const s = await startTestServer();
  const status = await s.call('server.status');
  expect(status.root).toBe(s.root);
  const lease = await s.call('lease.grant', { agent: 'a' });
  expect(lease.receipt.seq).toBe(1);
});
