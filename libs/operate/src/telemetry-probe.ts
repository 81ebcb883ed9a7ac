import { parsePrometheusText, type Sample } from './prometheus-text.ts';

export type Probe =
  | {
      reachable: true;
      ready: boolean;
      readyDetail: string;
      /** What needs an operator although the service works (`/readyz`'s `attention`), by subject. */
      attention: Record<string, string>;
      samples: Sample[];
    }
  | { reachable: false; reason: string };

/** `/readyz` and `/metrics` of a service's telemetry listener on 127.0.0.1:port. */
export async function probeTelemetry(port: number, timeoutMs = 1_500): Promise<Probe> {
  const base = `http://127.0.0.1:${port}`;
  try {
    const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await r.json().catch(() => ({}))) as {
      status?: string;
      checks?: Record<string, { ready?: boolean; detail?: string }>;
      attention?: Record<string, unknown>;
    };
    const attention: Record<string, string> = {};
    for (const [subject, message] of Object.entries(body.attention ?? {}))
      if (typeof message === 'string') attention[subject] = message;
    const failing = Object.entries(body.checks ?? {})
      .filter(([, c]) => c.ready === false)
      .map(([name, c]) => `${name}${c.detail ? `: ${c.detail}` : ''}`)
      .join('; ');
    let samples: Sample[] = [];
    const m = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) }).catch(
      () => undefined,
    );
    if (m?.ok) samples = parsePrometheusText(await m.text());
    return {
      reachable: true,
      ready: r.status === 200,
      readyDetail: failing || (body.status ?? ''),
      attention,
      samples,
    };
  } catch (err) {
    return { reachable: false, reason: `no telemetry on 127.0.0.1:${port} (${(err as Error).message})` };
  }
}
