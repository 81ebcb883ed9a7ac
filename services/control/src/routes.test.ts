import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi.ts';
import { matchRoute, ROUTES } from './routes.ts';

describe('matchRoute', () => {
  it('finds a route and decodes its path parameters', () => {
    const m = matchRoute('POST', '/api/tables/shop/public.order%20items/pause');
    expect(m && 'route' in m ? [m.route.action, m.params] : m).toEqual([
      'pause',
      { source: 'shop', table: 'public.order items' },
    ]);
  });

  it('tells a wrong method from an unknown path', () => {
    expect(matchRoute('GET', '/api/tables/shop/t/pause')).toEqual({ methodNotAllowed: true });
    expect(matchRoute('GET', '/api/nope')).toBeUndefined();
    expect(matchRoute('POST', '/api/tables//t/pause')).toBeUndefined();
  });

  it('keeps GET and POST of one path apart', () => {
    const get = matchRoute('GET', '/api/verify');
    const post = matchRoute('POST', '/api/verify');
    expect(get && 'route' in get ? get.route.role : get).toBe('viewer');
    expect(post && 'route' in post ? post.route.role : post).toBe('operator');
  });
});

describe('the OpenAPI document', () => {
  it('describes every route with its least role and whether it is audited', () => {
    const doc = openApiDocument('1.2.3') as {
      paths: Record<string, Record<string, { description: string }>>;
    };
    for (const r of ROUTES) {
      const op = doc.paths[r.path]?.[r.method.toLowerCase()];
      expect(op?.description, `${r.method} ${r.path}`).toContain(`Role: ${r.role}`);
      if ('action' in r) expect(op?.description).toContain(`Audited as \`${r.action}\``);
    }
  });
});
