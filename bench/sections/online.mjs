// Section: time from the browser's `online` event to the queue's first request. The queue's
// drain measurements (the `queue` section, `scripts/bench --queue`) time it as they start.
import { notMeasured, table } from "../lib/format.mjs";
import { splitLine } from "./queue.mjs";

export const title = "Reconnection: from `online` to the first request";

export async function run(ctx) {
  const rows = (ctx.queueLines ?? [])
    .map((line) => [splitLine(line)[0], line.match(/online → first request ([\d.]+ ms)/)?.[1]])
    .filter(([, time]) => time);
  if (rows.length === 0) {
    return notMeasured("it comes with the queue's drain measurements: `scripts/bench --queue` adds both");
  }
  for (const [what, time] of rows) console.log(`online → first request (${what}): ${time}`);
  return `From the \`online\` event to the first request of the queue's drain, in the drain measurements
of the queue section:

${table(["drain", "online → first request"], rows)}`;
}
