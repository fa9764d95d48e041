#!/bin/bash
# Edge node RSS serving int8 vs a full node serving float: real `shoal up`
# processes on 127.0.0.1. Usage: edge_rss.sh SHOAL MODELS_DIR ROUNDS
set -euo pipefail
SHOAL=$1; M=$2; ROUNDS=${3:-2}
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf $W' EXIT
"$SHOAL" key new -o $W/swarm.key >/dev/null
mkdir -p $W/src
for m in mlp cnn sms; do SHOAL_DATA_DIR=$W/src "$SHOAL" models add $m $M/$m.safetensors >/dev/null; done
"$SHOAL" up --headless --no-mdns --no-dht --key $W/swarm.key --data-dir $W/src --listen /ip4/127.0.0.1/tcp/4301 \
  --api 127.0.0.1:7301 --http 127.0.0.1:8301 --log-level warn 2>$W/src.log &
until grep -q "shoal up: peer" $W/src.log; do sleep 0.2; done
SRCID=$(sed -n 's/^shoal up: peer \([^ ]*\) .*/\1/p' $W/src.log)
BOOT=/ip4/127.0.0.1/tcp/4301/p2p/$SRCID
python3 -c '
import json,random
random.seed(1)
json.dump({"instances":[[[random.random() for _ in range(28)] for _ in range(28)] for _ in range(32)]},open("'$W'/img.json","w"))
json.dump({"instances":["free entry win a prize call now %d"%i for i in range(32)]},open("'$W'/txt.json","w"))'
rss() { awk '/VmRSS|VmHWM/{printf "%s %d KiB  ", $1, $2}' /proc/$1/status; }
one() { # role port
  local role=$1 p=$2 d=$W/n$2; mkdir -p $d
  "$SHOAL" up --headless --no-mdns --no-dht --key $W/swarm.key --data-dir $d --role $role --mem-budget 256MiB \
    --listen /ip4/127.0.0.1/tcp/$((p+1000)) --api 127.0.0.1:$p --http 127.0.0.1:$((p+1)) --bootstrap $BOOT --log-level warn 2>$d/log &
  local pid=$!
  until curl -s -o /dev/null http://127.0.0.1:$((p+1))/metrics; do sleep 0.2; done
  local base; base=$(rss $pid)
  for m in mlp cnn sms; do
    until SHOAL_DATA_DIR=$d "$SHOAL" models pull $m --api 127.0.0.1:$p >>$d/pull 2>&1; do sleep 0.3; done
  done
  for i in $(seq 50); do
    curl -s -o /dev/null -d @$W/img.json http://127.0.0.1:$((p+1))/v1/models/mlp:predict
    curl -s -o /dev/null -d @$W/img.json http://127.0.0.1:$((p+1))/v1/models/cnn:predict
    curl -s -o /dev/null -d @$W/txt.json http://127.0.0.1:$((p+1))/v1/models/sms:predict
  done
  echo "$role: before models: $base | serving mlp, cnn, sms after 50 batches of 32 each: $(rss $pid)"
  kill $pid; wait $pid 2>/dev/null || true
}
for r in $(seq $ROUNDS); do one edge 7400; rm -rf $W/n7400; one full 7500; rm -rf $W/n7500; done
# An edge node with a 4 MiB budget, asked for the cnn.
d=$W/small; mkdir -p $d
"$SHOAL" up --headless --no-mdns --no-dht --key $W/swarm.key --data-dir $d --role edge --mem-budget 4MiB \
  --listen /ip4/127.0.0.1/tcp/8700 --api 127.0.0.1:7700 --http 127.0.0.1:7701 --bootstrap $BOOT --log-level warn 2>$d/log &
pid=$!
until curl -s -o /dev/null http://127.0.0.1:7701/metrics; do sleep 0.2; done
until SHOAL_DATA_DIR=$d "$SHOAL" models pull mlp --api 127.0.0.1:7700; do sleep 0.3; done
SHOAL_DATA_DIR=$d "$SHOAL" models pull cnn --api 127.0.0.1:7700 || true
kill $pid; wait $pid 2>/dev/null || true
