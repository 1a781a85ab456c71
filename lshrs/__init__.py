"""lshrs: approximate nearest-neighbour search with its index in Redis.

Vectors stay where they are (Postgres, Parquet, ...); lshrs keeps compressed inverted
lists (IVF-PQ) or random-hyperplane LSH buckets in Redis, updated and read by atomic
Lua scripts, and reranks the best candidates by exact cosine similarity.
"""

from lshrs.config import (
    CorpusConfig,
    compute_collision_probability,
    corpus_config,
    get_optimal_config,
)
from lshrs.index import LSHRS
from lshrs.schemes.hyperplane import HashSignatures, LSHHasher
from lshrs.schemes.ivfpq import IVFPQ
from lshrs.schemes.kmeans import KMeansHasher
from lshrs.schemes.rq import RQHasher
from lshrs.similarity import cosine_similarity, l2_norm, top_k_cosine
from lshrs.sources import iter_parquet_vectors, iter_postgres_vectors
from lshrs.storage import BucketOperation, RedisStorage

__version__ = "0.1.0"

__all__ = [
    "IVFPQ",
    "LSHRS",
    "BucketOperation",
    "CorpusConfig",
    "HashSignatures",
    "KMeansHasher",
    "LSHHasher",
    "RQHasher",
    "RedisStorage",
    "__version__",
    "compute_collision_probability",
    "corpus_config",
    "cosine_similarity",
    "get_optimal_config",
    "iter_parquet_vectors",
    "iter_postgres_vectors",
    "l2_norm",
    "top_k_cosine",
]
