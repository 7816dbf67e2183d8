# The crier image: one static binary on a distroless base, running as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/crier ./cmd/crier

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crier /usr/local/bin/crier
ENV CRIER_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/crier"]
CMD ["serve"]
