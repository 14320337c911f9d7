"""Kafka client code: connection options, the consumer source, topics, the repartition stage."""
