// Package compose holds the Docker Compose smoke test of deploy/: it builds the
// image, runs the three-node cluster of deploy/docker-compose.yml and checks
// reads, writes, a node stop and its recovery through the HTTP API.
package compose
