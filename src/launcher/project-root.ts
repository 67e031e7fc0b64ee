// Lives in the client package (connect() finds the root the same way); re-exported for the CLI.
export { projectRoot, RootNotFoundError } from '../../clients/ts/src/project-root.js';
