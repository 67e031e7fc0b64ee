import { expect, expectTypeOf, test } from 'vitest';
import { runPaths as clientRunPaths, type ServerJson as ClientServerJson } from '../../clients/ts/src/run-files.js';
import { PROTOCOL as CLIENT_PROTOCOL } from '../../clients/ts/src/generated/catalog.js';
import { runPaths, type ServerJson } from '../../src/lifecycle/run-files.js';
import { PROTOCOL } from '../../src/version.js';

// The client package keeps its own copy of what the server writes (it imports nothing of src/):
// these pin the copies to the server's.
test('the client reads the run files where the server writes them', () => {
  const server = runPaths('/some/root');
  expect(clientRunPaths('/some/root')).toEqual({ runDir: server.runDir, serverJson: server.serverJson, logFile: server.logFile });
  expectTypeOf<ClientServerJson>().toEqualTypeOf<ServerJson>();
});

test('the client speaks the server’s protocol', () => {
  expect(CLIENT_PROTOCOL).toBe(PROTOCOL);
});
