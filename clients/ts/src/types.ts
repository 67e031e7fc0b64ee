// Method types, derived from the generated OpenAPI types (POST /rpc/<method> per method): one
// lookup per method, no deeper machinery (STYLE: our types come from schemas; keep generics shallow).
import type { components, paths } from './generated/openapi.js';

/** Each method's OpenAPI operation, by method name: `/rpc/claim.acquire` → `claim.acquire`. */
type Operations = {
  [P in keyof paths as P extends `/rpc/${infer M}` ? M : never]: paths[P] extends { post: infer O } ? O : never;
};

/** Every RPC method name the server publishes, e.g. `'claim.acquire'`. */
export type MethodName = keyof Operations & string;

/** The params object of a method (its request body). */
export type Params<M extends MethodName> = Operations[M] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** The result object of a method (its 200 response). */
export type Result<M extends MethodName> = Operations[M] extends { responses: { 200: { content: { 'application/json': infer R } } } }
  ? R
  : never;

/** The method map: `Methods['claim.acquire']['params']`, `Methods['claim.acquire']['result']`. */
export type Methods = { [M in MethodName]: { params: Params<M>; result: Result<M> } };

/** Params may be left out when the method requires none. */
export type ParamsArg<M extends MethodName> = {} extends Params<M> ? [params?: Params<M>] : [params: Params<M>];

type Namespace<M> = M extends `${infer N}.${string}` ? N : never;
type Member<M> = M extends `${string}.${infer F}` ? F : never;

/** The per-method API: `client.claim.acquire(params)` for `claim.acquire`, and so on. */
export type Namespaces = {
  [N in Namespace<MethodName>]: {
    [M in MethodName as Namespace<M> extends N ? Member<M> : never]: (...args: ParamsArg<M>) => Promise<Result<M>>;
  };
};

/** The names in `error.data.code`, e.g. `'CONFLICT'`. */
export type ErrorName = components['schemas']['Error']['data']['code'];

/** Public objects, for annotations: `Lease`, `Claim`, `Task` as the server returns them. */
export type PublicLease = Result<'lease.list'>['leases'][number];
export type Claim = Result<'claim.acquire'>['claim'];
export type Task = Result<'task.get'>['task'];
export type Receipt = Result<'claim.acquire'>['receipt'];
