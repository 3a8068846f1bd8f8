# Loom in containers: one image holds the loom CLI and every plugin binary;
# docker-compose.yml runs it as gateway and as workers over one Redis.
#
#   docker build -t loom .
#   docker run -p 8080:8080 -v $PWD/models:/models loom serve     # all in one
#
# Stage 1 builds static binaries (CGO_ENABLED=0: the kernels are Go and Go
# assembly, nothing links libc), so the runtime stage needs no libc at all;
# -tags nomsgpack leaves out gin's msgpack codec (no endpoint speaks it) and
# grpcnotrace gRPC's request tracing (golang.org/x/net/trace and its
# /debug/requests handlers, which nothing serves), as make build does.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY plugins/sdk/go.mod plugins/sdk/go.sum ./plugins/sdk/
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOOS=linux
RUN mkdir -p /out \
 && go build -trimpath -tags nomsgpack,grpcnotrace -ldflags="-s -w" -o /out/loom ./cmd/loom \
 && for p in text vision audio video; do \
      go build -trimpath -tags nomsgpack,grpcnotrace -ldflags="-s -w" -o /out/loom-plugin-$p ./plugins/$p || exit 1; \
    done

# Stage 2: distroless static, non-root. The worker finds plugins beside the
# loom binary (its --plugins default), so they all live in /opt/loom.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /opt/loom/
# Models are mounted here (read-only is fine); LOOM_MODELS may list more dirs.
ENV LOOM_MODELS=/models LOOM_ADDR=:8080
VOLUME ["/models"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/opt/loom/loom"]
CMD ["serve"]
