import type { OperationTime } from '../position.ts';
import type { WriteBatch } from './resync.ts';

/**
 * Pause, resume and resync of a collection in the MongoDB capture (the control service's commands, read
 * from the Kafka signal topic). A change stream has no place to write a marker into, so a command
 * takes effect where the streamer's loop picks it up: the changes buffered before it are written
 * as usual, those after a pause are held (`TablePauses`), and a resume writes the held ones in
 * order. The signal channel's handler waits until the command's transaction committed, so a
 * capture that stops first gets the command again (at least once; both are idempotent).
 */

export interface ControlCommand {
  type: 'pause' | 'resume' | 'resync';
  /** The collection's base topic. */
  baseTopic: string;
  /**
   * Resync: re-reads documents and writes them through `write` (each call one committed
   * transaction); `streamAt` is the cluster time of the last event written (see resync.ts).
   */
  resync?: (streamAt: OperationTime | null, write: WriteBatch) => Promise<unknown>;
  done(err?: Error): void;
}

export class ControlCommands {
  private queue: ControlCommand[] = [];

  /** Queues a command; resolves once the streamer applied and committed it. */
  submit(type: 'pause' | 'resume', baseTopic: string): Promise<void>;
  submit(type: 'resync', baseTopic: string, resync: NonNullable<ControlCommand['resync']>): Promise<void>;
  submit(type: ControlCommand['type'], baseTopic: string, resync?: ControlCommand['resync']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        type,
        baseTopic,
        ...(resync ? { resync } : {}),
        done: (err) => (err ? reject(err) : resolve()),
      });
    });
  }

  get size(): number {
    return this.queue.length;
  }

  /** The queued commands, in order (the queue is emptied). */
  take(): ControlCommand[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Fails every queued command (the session ends): the signal channel gets them again. */
  failAll(reason: string): void {
    for (const c of this.take()) c.done(new Error(reason));
  }
}
