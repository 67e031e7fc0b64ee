import { Type } from '@sinclair/typebox';
import { defineMethod } from './define.js';

export const gateMethods = [
  defineMethod({
    name: 'gate.list',
    kind: 'query',
    summary: 'The gates of .decapod/config.json (written by people, never over RPC), and any problem with the file.',
    params: {},
    result: {
      gates: Type.Array(
        Type.Object(
          {
            name: Type.String(),
            command: Type.String(),
            timeout_ms: Type.Integer(),
            attest: Type.Union([Type.Literal('server'), Type.Literal('any')]),
            output_cap_bytes: Type.Integer(),
            description: Type.String(),
            inputs: Type.Array(Type.String(), { description: 'globs the gate reads beyond the task’s paths; its proofs’ digests cover them' }),
          },
          { additionalProperties: false },
        ),
      ),
      config_file: Type.String(),
      config_error: Type.Union([Type.String(), Type.Null()], { description: 'why the file was rejected; the last good config keeps serving' }),
    },
    examples: [{ name: 'list', params: {} }],
    handler: (ctx) => {
      const snap = ctx.gates();
      return { gates: [...snap.gates.values()], config_file: snap.file, config_error: snap.error };
    },
  }),
];
