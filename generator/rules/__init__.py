"""deploygen's own cfn-lint rules for model deployments (SageMaker, Lambda, ECS, and any stack).

One rule class per file; cfn-lint loads the folder as is:

    cfn-lint --append-rules generator/rules infra/template.yaml

or, through its Python API, with ConfigMixIn(append_rules=[str(RULES_DIR)]).
Ids are in the 9xxx range cfn-lint leaves to user rules: E91xx/W91xx
SageMaker, 92xx Lambda, 93xx ECS and load balancing, 94xx any stack.
"""

from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent
