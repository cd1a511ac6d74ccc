/*
 * Content shaped like research data, generated (no fixtures): what compression is tried on.
 */

/** A table as a simulation logs it: `rows` lines of about 40 bytes, repetitive but not uniform. */
export function csvTable(rows: number): Buffer {
  const lines = ["step,temperature,pressure,label"];
  for (let i = 0; i < rows; i++) {
    lines.push(`${i},${(280 + Math.sin(i / 50) * 12).toFixed(4)},${1000 + (i % 97)},run-${i % 13}`);
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** A smooth field of `count` float64 values (4 decimals), as a model writes its output arrays. */
export function float64Field(count: number): Buffer {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = Math.round(Math.sin(i / 1000) * 1e4) / 1e4;
  return Buffer.from(values.buffer);
}
