/** The OpenAPI 3.1 document of the API, made from the route table (`/api/openapi.json`). */
import { ROUTES, type RouteSpec } from './routes.ts';

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES as readonly RouteSpec[]) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const op: Record<string, unknown> = {
      summary: r.summary,
      description: `Role: ${r.role} or above.${r.action ? ` Audited as \`${r.action}\`.` : ''}`,
      security: [{ bearer: [] }],
      ...(params.length > 0 ? { parameters: params } : {}),
      responses: {
        '200': { description: 'Done; the result as JSON.', content: { 'application/json': {} } },
        '400': { description: 'Bad input: the body names what is wrong and how to fix it.' },
        '401': {
          description:
            'No token, or a token not in `control.tokens` (audited when the route changes something).',
        },
        '403': { description: 'The token’s role may not do this (audited).' },
      },
    };
    if (r.body)
      op.requestBody = {
        required: false,
        content: { 'application/json': { schema: { type: 'object', properties: r.body } } },
      };
    paths[r.path.replace(/\{(\w+)\}/g, '{$1}')] ??= {};
    (paths[r.path] as Record<string, unknown>)[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CDC control API',
      version,
      description:
        'Watch and steer the pipeline. Every request carries `Authorization: Bearer <token>`; tokens and roles (viewer, operator, admin) come from `control.tokens` of the pipeline file. Requests that change something, and refused requests, are written to the audit topic.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
