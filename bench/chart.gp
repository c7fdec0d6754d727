# bench/chart.gp: bar chart of a bench/run.sh run (called with -e "datafile=...; outfile=...; subtitle=...").
# Ratios of the shim's figure to each baseline, for the rows where higher is better.
if (!exists("datafile")) datafile = "results/work/chart.dat"
if (!exists("outfile")) outfile = "results/bench.png"
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 1200,640 font "sans,10"
set output outfile
set title "mtlsshim: throughput relative to plaintext, stunnel and a reference (higher is better)\n".subtitle
set datafile separator "\t"
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set key autotitle columnhead
set grid ytics
set ylabel "shim / baseline"
set yrange [0:*]
set xtics rotate by 20 right nomirror
set bmargin 7
plot datafile using 2:xtic(1) lc rgb "#4878a8", \
     '' using 3 lc rgb "#e0883a", \
     '' using 4 title "shim/reference (redis TLS; shim full handshake; s\\_server; shim without OCSP; old library)" lc rgb "#6aa56a", \
     1 with lines dt 2 lc rgb "black" title "1×", \
     '' using ($0 - 0.25):2:(sprintf("%.2f", $2)) with labels offset 0,0.7 font ",8" notitle, \
     '' using ($0):3:(sprintf("%.2f", $3)) with labels offset 0,0.7 font ",8" notitle, \
     '' using ($0 + 0.25):4:(sprintf("%.2f", $4)) with labels offset 0,0.7 font ",8" notitle
