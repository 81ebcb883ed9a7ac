/**
 * A reader for the Prometheus text format that `/metrics` serves: enough to sum a series over
 * labels and read a histogram's quantile. Pure.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = m[4] as string;
    const value =
      raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    out.push({ name: m[1] as string, labels, value });
  }
  return out;
}

/** The sum of a series over the samples matching `where` (undefined when there is none). */
export function sumOf(
  samples: readonly Sample[],
  name: string,
  where: Record<string, string> = {},
): number | undefined {
  let found = false;
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
    found = true;
    sum += s.value;
  }
  return found ? sum : undefined;
}

/** Per value of `label`: the sum of the series. */
export function byLabel(samples: readonly Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = s.labels[label] ?? '';
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

/** Which series of a metric to take: every one (the default), or those whose labels pass. */
export type LabelFilter = (labels: Record<string, string>) => boolean;

/** A histogram's cumulative buckets `[le, count]`, summed over the series that pass `where`, by ascending `le`. */
export function histogramBuckets(
  samples: readonly Sample[],
  name: string,
  where: LabelFilter = () => true,
): [number, number][] {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !where(s.labels)) continue;
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * A quantile (0..1) from cumulative buckets, linear inside the bucket (as PromQL's
 * `histogram_quantile`); undefined when they hold no observation. A rank in the `+Inf` bucket
 * answers the highest finite bound.
 */
export function quantileFromBuckets(sorted: readonly [number, number][], q: number): number | undefined {
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return prevLe;
      const inBucket = count - prevCount;
      return inBucket === 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** A quantile (0..1) of a histogram from its cumulative `_bucket` series, linear inside the bucket. */
export function histogramQuantile(
  samples: readonly Sample[],
  name: string,
  q: number,
  where: LabelFilter = () => true,
): number | undefined {
  return quantileFromBuckets(histogramBuckets(samples, name, where), q);
}
