/**
 * When a windowed aggregation emits: `on-update` forwards every change of a window (with its
 * previous value); `on-window-close` forwards each window once, final, when the stream time
 * passes its end plus the grace period.
 */
export type EmitStrategy = 'on-update' | 'on-window-close';
