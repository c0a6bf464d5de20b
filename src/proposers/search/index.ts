/** Ratchet's built-in `search` proposer (Optuna TPE): public entry points. */
export { describeTrial, formatValue, type TrialDescription } from './hypothesis.js';
export {
  type AskedTrial,
  type BestTrial,
  defaultHelperPath,
  type EnqueueResult,
  OptunaHelperError,
  OptunaSession,
  type OptunaSessionOptions,
  type StudyInfo,
  type StudyOpened,
} from './optuna.js';
export {
  createSearchProposer,
  formatParamsYaml,
  mergeTrialParams,
  SearchProposer,
  type SearchProposerOptions,
  sameOnSpace,
  studyStoragePath,
} from './proposer.js';
export {
  type CategoricalParam,
  type ChoiceValue,
  choiceKey,
  type FloatParam,
  type IntParam,
  loadSearchSpace,
  type ParamSpace,
  type ParamSpec,
  parameterNames,
  parseSearchSpace,
  type SearchSpace,
  SearchSpaceError,
  SearchSpaceSchema,
  type SpaceIssue,
  searchSpaceJsonSchema,
} from './space.js';
