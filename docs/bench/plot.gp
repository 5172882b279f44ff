# Plots of integration/bench/compare.py: pgbench -S at 16 and 64 clients, one group of bars per -M mode and
# client count, one bar per proxy. compare.py writes tps.dat and cpu.dat into `dir` and runs
#   gnuplot -e "dir='...'; tps_names='direct sluice ...'; cpu_names='sluice ...'" docs/bench/plot.gp
# A '-' in the data is a missing figure (a run that failed, or direct's CPU: it has no proxy).
if (!exists("dir")) dir = "docs/bench"
if (!exists("tps_names")) tps_names = "direct sluice pgbouncer pgpool haproxy"
if (!exists("cpu_names")) cpu_names = "sluice pgbouncer pgpool haproxy"

set terminal pngcairo size 1100,520 font "sans,10"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set yrange [0:*]
set xtics nomirror
set linetype 1 lc rgb "#7f7f7f"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#ff7f0e"
set linetype 4 lc rgb "#2ca02c"
set linetype 5 lc rgb "#d62728"

# Each proxy keeps its colour whichever proxies were run.
all = "direct sluice pgbouncer pgpool haproxy"
lt_of(n) = sum [k=1:words(all)] (word(all, k) eq n ? k : 0)

# One group per row of the data: trim the autoscaled margins to the groups.
stats dir."/tps.dat" using 0 nooutput
set xrange [-0.6:STATS_records - 0.4]

set output dir."/tps.png"
set title "pgbench -S: transactions per second (median of runs; higher is better)"
set ylabel "TPS"
plot for [i=2:words(tps_names)+1] dir."/tps.dat" using i:xtic(1) title word(tps_names, i-1) lt lt_of(word(tps_names, i-1))

set output dir."/cpu.png"
set title "pgbench -S: the proxy's own CPU time per transaction (median of runs; lower is better)"
set ylabel "CPU µs per transaction"
plot for [i=2:words(cpu_names)+1] dir."/cpu.dat" using i:xtic(1) title word(cpu_names, i-1) lt lt_of(word(cpu_names, i-1))
