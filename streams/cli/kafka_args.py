"""The Kafka connection arguments every subcommand that talks to a broker takes (worker, submit, tail, status,
export, index), and the settings they make: one place, so the flags, their help and their defaults never differ."""
from __future__ import annotations

import argparse

BROKER_HELP = "Kafka bootstrap servers host:port[,...] (default: $SCENESTREAM_BROKER or localhost:9092)"
PREFIX_HELP = "topic prefix (default: $SCENESTREAM_PREFIX or 'scenestream.')"


def add_kafka_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help=BROKER_HELP)
    p.add_argument("--prefix", help=PREFIX_HELP)


def kafka_settings(args: argparse.Namespace, **extra):
    """KafkaSettings: defaults, then SCENESTREAM_* variables, then these flags."""
    from scenestream.streams.runtimes.kafka.settings import KafkaSettings  # heavy: only when a command runs

    return KafkaSettings.from_env(broker=args.broker, prefix=args.prefix, **extra)
