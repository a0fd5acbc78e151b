"""Kafka mode: the agents as faust-streaming workers joined by Kafka topics (README.md, "Kafka mode").

settings.py  topic layout, broker and credentials (KafkaSettings)
admin.py     creating the topics before anyone produces
app.py       the faust app of one worker
ingest.py / models.py / join.py   the faust agents around the scenestream agents
transactions.py  exactly-once for the joiner
worker.py    `scenestream worker`
client.py    `scenestream submit / tail / status`
"""
