/** Charts over time with uPlot: one small component that owns a uPlot instance. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

export function TimeChart(props: { title: string; times: number[]; series: Series[]; unit: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = props.series.map((s) => s.label).join('|');
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(320, el.current.clientWidth || 480),
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { label: props.unit, size: 60 }],
      series: [
        {},
        ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true })),
      ],
    };
    plot.current = new uPlot(
      opts,
      [props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData,
      el.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [labels, props.title]);
  useEffect(() => {
    plot.current?.setData([props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  }, [props.times, props.series]);
  return <div class="chart" ref={el} data-chart={props.title} />;
}
