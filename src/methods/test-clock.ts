import { Type } from '@sinclair/typebox';
import type { ManualClock } from '../util/clock.js';
import { iso } from '../util/clock.js';
import { defineMethod, type MethodDef } from './define.js';

/**
 * Only when the server runs with DECAPOD_TEST_CLOCK: a method that moves its clock, so process
 * tests of expiry need no sleeps. Never part of the published table.
 */
export function testClockMethods(clock: ManualClock): MethodDef[] {
  return [
    defineMethod({
      name: 'test.advance_clock',
      kind: 'query', // moves time, writes nothing itself: the next call judges expiry
      summary: 'Moves the test clock forward (DECAPOD_TEST_CLOCK servers only).',
      params: { ms: Type.Integer({ minimum: 0, maximum: 10 * 86_400_000 }) },
      result: { now: Type.String() },
      handler: (_ctx, p) => {
        clock.advance(p.ms);
        return { now: iso(clock.now()) };
      },
    }),
  ];
}
