/** An environment: process.env, or one of your own for the launcher and the server it starts. */
export type Env = Record<string, string | undefined>;
