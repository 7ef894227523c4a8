"""Request and response messages of the prompts API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from mloop.core import fields as f
from mloop.core.operations import Message
from mloop.prompts.checks import COMMIT_PATTERN, ROLE_PATTERN, VARIABLE_PATTERN
from mloop.store.versions import Version as Version

MAX_LIST_RESULTS = 1000
MAX_MESSAGES = 200
MAX_VARIABLES = 200
MAX_TEMPLATE_CHARS = 256 * 1024
MAX_COMMENT_CHARS = 8192

VariableType = Literal["string", "integer", "number", "boolean", "array", "object"]
Decision = Literal["approved", "rejected"]


class PromptMessage(Message):
    """One message of a chat template; ``content`` is a Jinja2 template."""

    role: Annotated[str, f.Rule(pattern=ROLE_PATTERN)] = Field(max_length=64)
    content: str = Field(max_length=MAX_TEMPLATE_CHARS)


class PromptVariable(Message):
    """A declared variable: its type, whether it must be given, its default, what it is."""

    type: VariableType = "string"
    required: bool = True
    default: Any = None
    description: str = Field(default="", max_length=4096)

    @property
    def needs_value(self) -> bool:
        """Whether rendering fails without this variable: required and without a default
        (a default fills a missing variable before ``required`` is looked at)."""
        return self.required and self.default is None


class PromptContent(Message):
    """What a version is: a chat template (``messages``) or a text template (``text``),
    typed variables, model parameters and an optional output JSON schema."""

    messages: Annotated[list[PromptMessage], f.Rule(minItems=1)] | None = Field(
        default=None, max_length=MAX_MESSAGES
    )
    text: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    variables: Annotated[
        dict[str, PromptVariable],
        f.Rule(propertyNames={"pattern": VARIABLE_PATTERN}, maxProperties=MAX_VARIABLES),
    ] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    output_schema: Annotated[
        dict[str, Any] | None, f.Rule(description="A JSON Schema; it must be a valid one")
    ] = None
    description: str = Field(default="", max_length=65_536)


class PromptVersion(PromptContent):
    name: str
    version: int
    digest: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    source_path: str = ""
    created_by: str = ""
    creation_time: int
    labels: list[str] = Field(default_factory=list)
    # The latest review's decision ("approved", "rejected"), or "pending" without one.
    review_status: str = "pending"


class Prompt(Message):
    name: str
    description: str = ""
    creation_time: int
    last_update_time: int
    labels: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None
    version_count: int = 0
    require_approval_for: list[str] = Field(default_factory=list)
    # Four eyes: an approval needs a reviewer other than the version's author.
    require_distinct_reviewer: bool = True


class PromptName(Message):
    name: f.AssetName


class ListPrompts(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class PromptList(Message):
    prompts: list[Prompt]
    next_page_token: str | None = None


class CreatePromptVersion(PromptContent):
    """Register content as the prompt's next version (or find the version that holds it)."""

    name: f.AssetName
    git_commit: Annotated[str, f.Rule(pattern=COMMIT_PATTERN)] | None = Field(
        default=None, max_length=64
    )
    git_dirty: bool | None = None
    source_path: str | None = Field(default=None, max_length=4096)
    label: f.AliasName | None = None


class RegisteredPromptVersion(Message):
    """A version after registration; ``created`` is false when the content was already there."""

    prompt_version: PromptVersion
    created: bool


class GetPromptVersion(Message):
    """A version by number; without one, the newest."""

    name: f.AssetName
    version: Version | None = None


class ListPromptVersions(Message):
    name: f.AssetName
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class PromptVersionList(Message):
    prompt_versions: list[PromptVersion]
    next_page_token: str | None = None


class SetPromptLabel(Message):
    name: f.AssetName
    label: f.AliasName
    version: Version


class PromptLabelRef(Message):
    name: f.AssetName
    label: f.AliasName


class GetPromptLabelHistory(Message):
    name: f.AssetName
    label: f.AliasName | None = None
    max_results: int = Field(default=1000, ge=1, le=10_000)


class PromptLabelHistoryEntry(Message):
    name: str
    label: str
    from_version: int | None = None
    to_version: int | None = None
    actor: str
    timestamp: int


class PromptLabelHistory(Message):
    entries: list[PromptLabelHistoryEntry]


class DiffPromptVersions(Message):
    name: f.AssetName
    a: Version
    b: Version


class FieldChange(Message):
    """One changed part of a version: ``variables.topic``, ``params.temperature``..."""

    field: str
    before: Any = None
    after: Any = None


class PromptDiff(Message):
    name: str
    a: int
    b: int
    # Unified diff of the templates (chat messages as "[role]" blocks); empty when equal.
    template_diff: str
    changes: list[FieldChange]


class ReviewPromptVersion(Message):
    name: f.AssetName
    version: Version
    decision: Decision = "approved"
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)


class PromptReview(Message):
    id: int
    name: str
    version: int
    reviewer: str
    decision: str
    comment: str = ""
    created_time: int


class ListPromptReviews(Message):
    name: f.AssetName
    version: Version | None = None


class PromptReviewList(Message):
    reviews: list[PromptReview]


class SetPromptPolicy(Message):
    """Labels that only a version with an approved review may get (``[production]``), and
    whether an approval needs a reviewer other than the author (None: leave it as it is;
    a new prompt requires one)."""

    name: f.AssetName
    require_approval_for: list[f.AliasName] = Field(default_factory=list, max_length=100)
    # Strict: 0 and 1 are not booleans here (the schema says boolean).
    require_distinct_reviewer: StrictBool | None = None


class RenderPrompt(Message):
    """Render a prompt reference (``name``, ``name:3``, ``name@label``) with variables."""

    ref: Annotated[str, f.Rule(pattern=f.PROMPT_REF_PATTERN)] = Field(max_length=600)
    variables: dict[str, Any] = Field(default_factory=dict)


class RenderedPromptMessage(Message):
    name: str
    version: int
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    output_schema: dict[str, Any] | None = None
