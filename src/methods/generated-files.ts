import { renderCatalogModule } from './catalog.js';
import { renderClientFiles } from './client-files.js';
import { renderErrorsDoc, renderMethodsDoc } from './docs.js';
import { buildOpenApi } from './openapi.js';
import { buildOpenRpc } from './openrpc.js';
import { METHODS } from './table.js';

/** Every generated file, by path from the package folder, as it must read now. */
export function renderGenerated(): Record<string, string> {
  const methods = [...METHODS.values()];
  return {
    'openapi/openapi.json': `${JSON.stringify(buildOpenApi(methods), null, 2)}\n`,
    'openapi/openrpc.json': `${JSON.stringify(buildOpenRpc(methods), null, 2)}\n`,
    'src/generated/catalog.ts': renderCatalogModule(methods),
    'docs/errors.md': renderErrorsDoc(),
    'docs/methods.md': renderMethodsDoc(methods),
    ...renderClientFiles(methods),
  };
}
