#!/usr/bin/env bash
# Apache Kafka as a single-node KRaft broker (broker + controller), from the broker jars on
# Maven Central (see kafka/pom.xml), run with the machine's Java 17.
# Usage: kafka.sh start|stop|status
source "$(dirname "$0")/lib.sh"

PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
HOME_DIR="$CACHE/kafka"
LIBS="$HOME_DIR/libs"
DATA="$CACHE/services/kafka"
LOG="$LOGS/kafka.log"

ready() { port_open 127.0.0.1 "$PORT" && kcat -b "127.0.0.1:$PORT" -L -m 3 >/dev/null 2>&1; }

fetch_jars() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v java >/dev/null || die "kafka: java not found (need Java 17: apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || apt_install maven
  say "kafka: resolving broker jars from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -q -B -f "$ROOT/scripts/services/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$LOGS/kafka-maven.log" 2>&1 \
    || die "kafka: Maven could not resolve org.apache.kafka:kafka_2.13, see $LOGS/kafka-maven.log"
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$HOME_DIR/config" "$DATA"
  cat >"$HOME_DIR/config/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  cat >"$HOME_DIR/config/log4j.properties" <<'PROPS'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
PROPS
}

start() {
  # The jars are needed even when a broker already runs: tests start private brokers from them.
  fetch_jars
  if ready; then say "kafka: already serving on :$PORT"; echo "127.0.0.1:$PORT"; return 0; fi
  pid_alive kafka && die "kafka: process $(cat "$RUN/kafka.pid") runs but :$PORT does not answer, see $LOG"
  need_command kcat kcat
  write_config
  local cp="$LIBS/*"
  if [[ ! -f "$DATA/meta.properties" ]]; then
    say "kafka: formatting KRaft storage in $DATA"
    java -cp "$cp" -Dlog4j.configuration="file:$HOME_DIR/config/log4j.properties" kafka.tools.StorageTool format \
      -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" \
      -c "$HOME_DIR/config/server.properties" >"$LOGS/kafka-format.log" 2>&1 \
      || die "kafka: storage format failed, see $LOGS/kafka-format.log"
  fi
  say "kafka: starting KRaft broker on 127.0.0.1:$PORT (log: $LOG)"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$HOME_DIR/config/log4j.properties" \
    -cp "$cp" kafka.Kafka "$HOME_DIR/config/server.properties" >"$LOG" 2>&1 &
  echo $! >"$RUN/kafka.pid"
  wait_for kafka 90 ready || die "kafka: not serving metadata after 90s, see $LOG"
  say "kafka: ready at 127.0.0.1:$PORT"
  echo "127.0.0.1:$PORT"
}

stop() { stop_pid kafka; }
status() { if ready; then echo "kafka: up on :$PORT"; else echo "kafka: down"; return 1; fi; }

"${1:-start}"
