import { AsyncLocalStorage } from 'node:async_hooks';
import type { Connection, Row } from './types.js';

/**
 * One connection shared by concurrent callers (syncs delivered with --threads all commit state
 * through one): statements and transactions take turns, so a checkpoint of one sync never runs
 * inside another's transaction. Statements issued from within a transaction belong to it and
 * run at once.
 */
export function serialConnection(connection: Connection): Connection {
  const insideTurn = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    if (insideTurn.getStore()) return work();
    const turn = tail.then(() => insideTurn.run(true, work));
    tail = turn.catch(() => undefined);
    return turn;
  };
  return {
    execute: (sql, params) => inTurn(() => connection.execute(sql, params)),
    query: <T extends Row = Row>(sql: string, params?: readonly unknown[]) => inTurn(() => connection.query<T>(sql, params)),
    describe: (sql) => inTurn(() => connection.describe(sql)),
    // A stream holds the connection until it is consumed; callers that stream do not share one.
    stream: (sql, params, batchSize) => connection.stream(sql, params, batchSize),
    transaction: (work) => inTurn(() => connection.transaction(work)),
    close: () => inTurn(() => connection.close()),
  };
}
