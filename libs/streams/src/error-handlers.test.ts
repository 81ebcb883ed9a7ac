import { isCdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { type ErrorHandlers, ErrorPolicies } from './error-handlers.ts';
import { type Serde, Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';

const S = Serdes.string();
const N = Serdes.number();

const unserializable: Serde<number> = {
  serialize: (_t, v) => {
    if (v === 13) throw new Error('13 is unlucky');
    return N.serialize('', v);
  },
  deserialize: (t, d) => N.deserialize(t, d),
};

function setup(handlers: Partial<ErrorHandlers>) {
  const b = new StreamsBuilder();
  b.stream<string, number>('in', { keySerde: S, valueSerde: N })
    .mapValues((v) => {
      if (v === 7) throw new Error('7 is not allowed');
      return v;
    })
    .to('out', { keySerde: S, valueSerde: unserializable });
  const driver = new TopologyTestDriver(b.build(), { errorHandlers: handlers });
  return {
    driver,
    input: driver.createInputTopic('in', S, N),
    output: driver.createOutputTopic('out', S, N),
  };
}

describe('error policies', () => {
  it('fail: a poison record stops processing with an error naming the record and node (the default)', async () => {
    const { input } = setup({});
    const err = await input.pipeInput('k', 7, 1).catch((e: unknown) => e);
    expect(isCdcError(err, 'POISON_RECORD')).toBe(true);
    expect((err as Error).message).toMatch(/in\[0\]@0 failed at map-values-\d+: 7 is not allowed/);
  });

  it('fail: bytes that do not deserialize stop processing with SERDE_FAILED', async () => {
    const { driver } = setup({});
    const err = await driver.pipeRaw('in', Buffer.from('k'), Buffer.from('abc'), 1).catch((e: unknown) => e);
    expect(isCdcError(err, 'SERDE_FAILED')).toBe(true);
  });

  it('continue: skips and counts, and the records after it still flow', async () => {
    const { driver, input, output } = setup({
      deserialization: ErrorPolicies.continue(),
      processing: ErrorPolicies.continue(),
      production: ErrorPolicies.continue(),
    });
    await driver.pipeRaw('in', Buffer.from('k'), Buffer.from('abc'), 1);
    await input.pipeInput('k', 7, 2);
    await input.pipeInput('k', 13, 3);
    await input.pipeInput('k', 1, 4);
    expect(output.readValues()).toEqual([1]);
    expect(driver.metrics.skipped).toBe(3);
    expect(driver.metrics.processed).toBe(2);
  });

  it('dead-letter: writes the raw input with the failure in headers, for each stage', async () => {
    const { driver, input, output } = setup({
      deserialization: ErrorPolicies.deadLetter('dlq'),
      processing: ErrorPolicies.deadLetter('dlq'),
      production: ErrorPolicies.deadLetter('dlq'),
    });
    await driver.pipeRaw('in', Buffer.from('k'), Buffer.from('abc'), 1);
    await input.pipeInput('k', 7, 2);
    await input.pipeInput('k', 13, 3);
    await input.pipeInput('k', 1, 4);
    expect(output.readValues()).toEqual([1]);
    const dlq = driver.createOutputTopic('dlq', S, Serdes.buffer()).readRecords();
    expect(dlq.map((r) => r.headers['cdc.error.stage'])).toEqual([
      'deserialization',
      'processing',
      'production',
    ]);
    expect(dlq[0]?.value?.toString()).toBe('abc');
    expect(dlq[1]?.headers).toMatchObject({
      'cdc.error.message': '7 is not allowed',
      'cdc.source.topic': 'in',
      'cdc.source.offset': '1',
    });
    expect(dlq[2]?.value?.readDoubleBE(0)).toBe(13);
    expect(driver.metrics.deadLettered).toBe(3);
  });

  it('a custom handler can choose per failure', async () => {
    const { driver, input } = setup({
      processing: (f) =>
        (f.error as Error).message.includes('7') ? ErrorPolicies.continue()(f) : { action: 'fail' },
    });
    await input.pipeInput('k', 7, 1);
    expect(driver.metrics.skipped).toBe(1);
  });
});
