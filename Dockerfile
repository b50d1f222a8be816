# syntax=docker/dockerfile:1
#
# One image for both roles of keda-ebpf-scaler:
#   scaler     runs as the image's user 65532 (non-root), see manifests/base/scaler.yaml
#   collector  the DaemonSet sets runAsUser 0 and adds BPF, PERFMON, NET_ADMIN,
#              SYS_RESOURCE, SYS_PTRACE (not privileged), see manifests/base/collector.yaml
# No HEALTHCHECK: Kubernetes probes the scaler over gRPC (grpc.health.v1).
#
# Every build command lives in scripts/docker-steps.sh, which also runs them outside Docker
# (`bash scripts/docker-steps.sh`) so the steps are exercised where no Docker engine runs.
#
# Reproducible: base images pinned by tag (pin by digest in your registry mirror for
# bit-for-bit builds), dependencies from package-lock.json with `npm ci`, and file
# timestamps from SOURCE_DATE_EPOCH:
#   docker buildx build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     --output type=image,name=keda-ebpf-scaler:0.1.0,rewrite-timestamp=true .
#
# The BPF objects are compiled (CO-RE) against vmlinux.h generated from the build host's
# /sys/kernel/btf/vmlinux (scripts/build-bpf.sh); the build host's kernel needs BTF, the
# nodes' kernels need BTF too (they relocate at load time).

ARG NODE_VERSION=20.20.2

FROM node:${NODE_VERSION}-bookworm AS build
ARG SOURCE_DATE_EPOCH
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused while package-lock.json does not change.
COPY package.json package-lock.json ./
COPY scripts/docker-steps.sh scripts/docker-steps.sh
RUN bash scripts/docker-steps.sh deps
COPY . .
RUN bash scripts/docker-steps.sh build
RUN bash scripts/docker-steps.sh layout /app

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG SOURCE_DATE_EPOCH
# libbpf1: the collector loads its programs through libbpf (koffi binding).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/* /var/log/dpkg.log /var/log/apt
COPY --from=build /app /app
WORKDIR /app
ENV NODE_ENV=production
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
