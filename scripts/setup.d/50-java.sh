#!/usr/bin/env bash
# The MLflow Java client for the tests: the Maven job in tests/testdata/java_job has its
# dependencies (org.mlflow:mlflow-client) resolved once into the project-local repository
# .peers/m2, and their class path written to .peers/java-job.classpath, so tests run it with
# `java -cp` and no network. Java 17 and Maven come from Debian when missing. Skipped when the
# class path was written for the current pom.xml and every jar it names is present.
set -euo pipefail
pom="tests/testdata/java_job/pom.xml"
out=".peers/java-job.classpath"
stamp=".peers/java-job.pom.sha256"
want="$(sha256sum "$pom" | cut -d' ' -f1)"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  missing=0
  IFS=":" read -r -a jars <"$out" || true
  for jar in "${jars[@]}"; do [[ -f "$jar" ]] || missing=1; done
  if [[ "$missing" == "0" ]]; then exit 0; fi
fi
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  sudo=""
  if [[ "$(id -u)" != "0" ]]; then sudo="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven
fi
mkdir -p .peers
mvn -B -q -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$PWD/.peers/m2" \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$out"
echo "$want" >"$stamp"
