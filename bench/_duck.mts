import { DuckDBInstance } from '@duckdb/node-api';
const [file, threads, rows] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4] ?? 0)];
const inst = await DuckDBInstance.create(':memory:', { memory_limit: process.env.MEM ?? '128MB', threads, preserve_insertion_order: process.env.PIO ?? 'true' });
const c = await inst.connect();
const t = performance.now(); const cpu0 = process.cpuUsage();
await c.run(`COPY (SELECT * FROM read_csv('${file}', columns = {'id':'BIGINT','tenant_id':'INTEGER','quantity':'INTEGER','amount':'DECIMAL(12,2)','product':'VARCHAR','created_at':'TIMESTAMPTZ','updated_at':'TIMESTAMPTZ','attributes':'VARCHAR','note':'VARCHAR'}, header=false, auto_detect=false, delim=',', quote='"', escape='"', nullstr='', allow_quoted_nulls=false ${process.env.PAR==='0'?', parallel=false':''})) TO '/tmp/t1.parquet' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${process.env.RG ?? 61440})`);
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ threads, s: ((performance.now()-t)/1000).toFixed(2), cpu: ((cpu.user+cpu.system)/1e6).toFixed(2), rssMb: Math.round(process.resourceUsage().maxRSS/1024) }));
