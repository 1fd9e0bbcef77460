# Sourced by tools/demo.sh after the cluster is up: the S3 gateway on
# 127.0.0.1:$S3_PORT and an NBD export of the volume rbd/demo on
# 127.0.0.1:$NBD_PORT. Sets DEMO_S3_INFO / DEMO_NBD_INFO for the banner.

wait_port() { # port seconds
  local i
  for i in $(seq $(( $2 * 10 ))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- S3 gateway -------------------------------------------------------------
if [ ! -f "$RUN/s3-user.json" ]; then
  $NORN -f json s3 user create demo --display-name "Demo user" > "$RUN/s3-user.json"
fi
AK=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); k=d.get("keys",[d])[0]; print(k.get("access_key") or k.get("access-key"))' "$RUN/s3-user.json")
SK=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); k=d.get("keys",[d])[0]; print(k.get("secret_key") or k.get("secret-key"))' "$RUN/s3-user.json")
# The gateway runs as client.s3 with only the caps it needs (maps, pool s3).
if [ ! -s "$RUN/s3.keyring" ]; then
  $NORN auth add client.s3 mon 'allow r' osd 'allow rw pool=s3' >/dev/null
  GWKEY=$($NORN -f json auth get client.s3 | $PY -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  (umask 077 && printf '[client.s3]\nkey = %s\n' "$GWKEY" > "$RUN/s3.keyring.tmp") &&
    mv "$RUN/s3.keyring.tmp" "$RUN/s3.keyring"
fi
setsid "$BUILD/client/s3/norn-s3" -c "$RUN/norn.conf" --s3_client_name=client.s3 \
  --keyring="$RUN/s3.keyring" --s3_addr=127.0.0.1 --s3_port="$S3_PORT" --s3_access_log="$RUN/logs/s3-access.log" \
  </dev/null >>"$RUN/logs/s3.log" 2>&1 &
echo $! > "$RUN/pids/s3.pid"
wait_port "$S3_PORT" 20 || { echo "demo: the S3 gateway did not start, see $RUN/logs/s3.log" >&2; exit 1; }
DEMO_S3_INFO="
S3 gateway: http://127.0.0.1:$S3_PORT   (path-style; region us-east-1)
  access key: $AK
  secret key: $SK
  awscli:     AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws --endpoint-url http://127.0.0.1:$S3_PORT s3 mb s3://photos
  boto3:      boto3.client('s3', endpoint_url='http://127.0.0.1:$S3_PORT', aws_access_key_id='$AK', aws_secret_access_key='$SK', region_name='us-east-1')"

# --- NBD export of a demo volume --------------------------------------------
if ! $NORN vol info rbd/demo >/dev/null 2>&1; then
  $NORN vol create rbd/demo 1G >/dev/null
fi
"$BUILD/client/nbd/norn-nbd" --backend vol -c "$RUN/norn.conf" --vol-nbd-pools=rbd \
  --listen "127.0.0.1:$NBD_PORT" --pid-file "$RUN/pids/nbd.pid" \
  --log-file "$RUN/logs/nbd.log" --daemon \
  || { echo "demo: norn-nbd did not start, see $RUN/logs/nbd.log" >&2; exit 1; }
DEMO_NBD_INFO="
NBD export: nbd://127.0.0.1:$NBD_PORT/rbd/demo   (a 1 GiB thin volume)
  nbdinfo nbd://127.0.0.1:$NBD_PORT/rbd/demo
  mount it here (no nbd kernel module needed), as root:
    mkdir -p /mnt/demo-nbd /mnt/demo
    nbdfuse -P /tmp/demo-nbdfuse.pid /mnt/demo-nbd/disk nbd://127.0.0.1:$NBD_PORT/rbd/demo &
    sleep 1; mkfs.ext4 -q /mnt/demo-nbd/disk     # first time only
    mount -o loop /mnt/demo-nbd/disk /mnt/demo
  unmount: umount /mnt/demo && fusermount3 -u /mnt/demo-nbd"
