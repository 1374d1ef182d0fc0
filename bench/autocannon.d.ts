// autocannon ships no types; the benchmark uses its promise API and aggregateResult only.
declare module 'autocannon' {
  type Autocannon = ((opts: Record<string, unknown>) => Promise<unknown>) & {
    aggregateResult: (results: unknown[], opts: Record<string, unknown>) => unknown;
  };
  const autocannon: Autocannon;
  export default autocannon;
}
